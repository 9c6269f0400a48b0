"""What an agent (or the person managing it) is told when something is refused."""

from __future__ import annotations

from ops.errors import OpsError


class AgentError(OpsError):
    pass


AGENTS_STOPPED = "All agents are stopped by an administrator; nothing is done until they are started again."
AGENT_DISABLED = "This agent is stopped (disabled) by an administrator."
SCOPE_MISSING = "This agent's scopes do not include {scope}."
RATE_LIMITED = "Rate limit reached: at most {limit} calls a minute."
BUDGET_SPENT = "Daily budget spent: at most {limit} calls a day."
RATIONALE_REQUIRED = "rationale: say why the agent proposes this."
INTERNAL = "The back office could not complete this call; it is logged. Try again later."
NOT_FOUND = "{what} {ident} was not found."
BAD_ARGUMENT = "{field}: {problem}"
AGENT_NEVER_CHECKER = "Agents and automations propose; they never approve, reject or execute a request."
CHECKER_NOT_STAFF = "Only an active staff member decides a request."
NOT_ALLOWED = "You may not {verb}."
NAME_TAKEN = "name: an agent called {name} already exists."
SCOPES_UNKNOWN = "scopes: {scopes} is not a scope."
EDIT_UNCHANGED = "Nothing was changed: accept the proposal as it stands, or change it."
