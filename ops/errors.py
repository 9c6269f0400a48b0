UNKNOWN_ROLE = "Unknown role {role!r}; choose one of: {choices}."
ROLE_ALREADY_HELD = "{username} already has the {role} role."
ROLE_NOT_HELD = "{username} does not have the {role} role."
USERNAME_TAKEN = "A staff user named {username!r} already exists."
REASON_REQUIRED = "A reason is required for this change."
NOT_ALLOWED = "Your role does not allow this action."


class OpsError(Exception):
    """A staff or workflow action was refused; nothing was changed."""
