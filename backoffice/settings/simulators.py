"""What the demo (dev) and the test settings add to base: the simulators of the outside systems
(the ``sim`` app) in their place. Production settings never import this, so production has no
simulator installed and must name real adapters."""

from backoffice.env import env_bool, env_list, env_str

from .base import CELERY_BEAT_SCHEDULE, DEMO_MODE, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "sim"]
TRADING_PLATFORM = env_str("TRADING_PLATFORM", "sim.platform.SimulatedPlatform")
PAYMENT_PROVIDERS = {"card": env_str("PAYMENT_PROVIDER_CARD", "sim.simpay.SimPay")}
# a second simulated card PSP, so that PSP routing rules have a real choice
PAYMENT_PROVIDERS_ROUTED = env_list("PAYMENT_PROVIDERS_ROUTED", ["sim.simpay.SimPay2"])

# SimPay signs its callbacks with this secret (HMAC-SHA256 over "timestamp.payload") and delivers
# them to this URL: the demo's own web server (the demo sets it from PORT).
INSECURE_DEV_SIMPAY_SECRET = "whsec_insecure_dev_only_simpay_secret"  # noqa: S105
SIMPAY_WEBHOOK_SECRET = env_str("SIMPAY_WEBHOOK_SECRET", INSECURE_DEV_SIMPAY_SECRET)
SIMPAY_WEBHOOK_URL = env_str("SIMPAY_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/simpay/")
# SimPay2: its own secret, its own callback path.
INSECURE_DEV_SIMPAY2_SECRET = "whsec_insecure_dev_only_simpay2_secret"  # noqa: S105
SIMPAY2_WEBHOOK_SECRET = env_str("SIMPAY2_WEBHOOK_SECRET", INSECURE_DEV_SIMPAY2_SECRET)
SIMPAY2_WEBHOOK_URL = env_str("SIMPAY2_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/simpay2/")
# Where the simulated PSPs serve their checkout pages (the demo's own web server, under /sim/).
SIM_PSP_PUBLIC_URL = env_str("SIM_PSP_PUBLIC_URL", "http://127.0.0.1:8000")
PAYMENT_LINK_RETURN_URL = env_str("PAYMENT_LINK_RETURN_URL", SIM_PSP_PUBLIC_URL + "/sim/payment-done/")

# The sample client area (sim.client_area) calls the client-area API over HTTP with the client area's
# key: this one, or the one in this file (the demo writes it there when it makes the key). The API's
# base URL: empty means SIM_PSP_PUBLIC_URL's /api/v1/client-area/ (the demo's own server).
SIM_CLIENT_AREA_API_URL = env_str("SIM_CLIENT_AREA_API_URL", "")
SIM_CLIENT_AREA_API_KEY = env_str("SIM_CLIENT_AREA_API_KEY", "")
SIM_CLIENT_AREA_KEY_FILE = env_str("SIM_CLIENT_AREA_KEY_FILE", "")  # empty: VAR_DIR/client-area-api-key

# The demo's webhook endpoints point at its own simulated receiver (sim.webhooks) on 127.0.0.1; the
# tests' at receivers on loopback.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", True)
# The simulated CRM (sim.crm): the back office pushes to it through accounts.crm, and it signs its
# change notifications (HMAC-SHA256 over "timestamp.payload", header SimCRM-Signature) and delivers
# them to this URL, the demo's own web server.
CRM_BACKEND = env_str("CRM_BACKEND", "sim.crm.SimulatedCrm")
INSECURE_DEV_CRM_SECRET = "whsec_insecure_dev_only_simcrm_secret"  # noqa: S105
CRM_WEBHOOK_SECRET = env_str("CRM_WEBHOOK_SECRET", INSECURE_DEV_CRM_SECRET)
SIMCRM_WEBHOOK_URL = env_str("SIMCRM_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/crm/")
CRM_CONTACT_URL = env_str("CRM_CONTACT_URL", "/sim/crm/{crm_id}/")
# The simulated identity verification provider (sim.idv): checks a document against the profile
# and signs its result (HMAC-SHA256 over "timestamp.payload", header SimIDV-Signature), delivered
# to this URL, the demo's own web server.
IDENTITY_VERIFIER = env_str("IDENTITY_VERIFIER", "sim.idv.SimulatedIdentityVerifier")
INSECURE_DEV_IDENTITY_SECRET = "whsec_insecure_dev_only_simidv_secret"  # noqa: S105
IDENTITY_WEBHOOK_SECRET = env_str("IDENTITY_WEBHOOK_SECRET", INSECURE_DEV_IDENTITY_SECRET)
SIMIDV_WEBHOOK_URL = env_str("SIMIDV_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/identity/")
# The simulated SMS provider (sim.sms): records what it sends, and signs its delivery results and
# the replies it simulates (HMAC-SHA256 over "timestamp.payload", header SimSMS-Signature) to this URL.
SMS_PROVIDER = env_str("SMS_PROVIDER", "sim.sms.SimulatedSms")
INSECURE_DEV_SMS_SECRET = "whsec_insecure_dev_only_simsms_secret"  # noqa: S105
SMS_WEBHOOK_SECRET = env_str("SMS_WEBHOOK_SECRET", INSECURE_DEV_SMS_SECRET)
SIMSMS_WEBHOOK_URL = env_str("SIMSMS_WEBHOOK_URL", "http://127.0.0.1:8000/webhooks/sms/")

if DEMO_MODE:  # SimPay settles payouts and calls back, as a real PSP would on its own
    CELERY_BEAT_SCHEDULE = {
        **CELERY_BEAT_SCHEDULE,
        "simpay-settle": {"task": "sim.tasks.simpay_settle_task", "schedule": 10.0},
    }
