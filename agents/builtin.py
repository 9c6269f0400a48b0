"""The built-in agents, which need no model: a document pre-check agent and a triage agent.

They are clients of the MCP door like any outside agent (the SDK's client over HTTP, with their own
bearer token), so they pass the same gate, leave the same trail and can only propose. Their rules
are plain functions of what the read tools return; what clients wrote (file names, what the
identity provider read off a document) is compared, never obeyed."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

PRECHECK = "document-precheck"
TRIAGE = "triage"

MIN_WIDTH, MIN_HEIGHT = 300, 200  # smaller than this, a document's print cannot be read
BLANK_SPREAD = 4.0  # a picture whose grey levels hardly vary is blank (or nearly)
IDENTITY_KINDS = ("proof_of_identity",)
# Queues whose item is settled once its client is no longer waiting for a KYC decision.
CLIENT_DECISION_QUEUES = ("kyc_review",)
WAITING_STATUSES = ("pending_review", "pending_documents")
# Routing: where a new item about a high-risk client belongs instead (contact with a high-risk
# client is compliance's, not support's).
HIGH_RISK_ROUTES = {"client_follow_up": "compliance_escalation"}
RISK_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
ROUTING = "agents.work_item_routing"
RESOLUTION = "agents.work_item_resolution"


@dataclass
class Verdict:
    decision: str  # accept | reject
    reason_code: str = ""
    findings: list[str] = field(default_factory=list)  # why not accept
    evidence: list[str] = field(default_factory=list)  # what was checked


def _plain(text: Any) -> str:
    folded = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    return " ".join(folded.lower().split())


def document_verdict(document: dict[str, Any], profile: dict[str, Any], today: date) -> Verdict:
    """Pre-check one document against the client's profile (the data of ``document_checklist``)."""
    evidence: list[str] = []
    rejections: list[tuple[str, str]] = []
    expiry = document.get("expiry_date")
    if expiry:
        if date.fromisoformat(expiry) < today:
            rejections.append(("expired", f"expired on {expiry}"))
        else:
            evidence.append(f"valid until {expiry}")
    image = document.get("image") or {}
    if image.get("unreadable"):
        rejections.append(("blurred", "the image cannot be read"))
    elif image:
        if image["width"] < MIN_WIDTH or image["height"] < MIN_HEIGHT:
            rejections.append(("blurred", f"image too small ({image['width']}x{image['height']} pixels)"))
        elif image["pixel_spread"] < BLANK_SPREAD:
            rejections.append(("blurred", "the image is blank"))
        else:
            evidence.append(f"image {image['width']}x{image['height']} pixels, not blank")
    others = int(document.get("same_file_other_clients") or 0)
    if others:
        rejections.append(("other", f"the same file was uploaded by {others} other client(s)"))
    else:
        evidence.append("file not used by any other client")
    if document.get("kind") in IDENTITY_KINDS:
        extracted = (document.get("untrusted") or {}).get("extracted") or {}
        if extracted:
            read_name = (_plain(extracted.get("first_name")), _plain(extracted.get("last_name")))
            want_name = (_plain(profile.get("first_name")), _plain(profile.get("last_name")))
            if read_name != want_name:
                rejections.append(("name_mismatch", "the name on the document differs from the profile"))
            else:
                evidence.append("name matches the profile")
            dob = str(extracted.get("date_of_birth") or "")
            if profile.get("date_of_birth") and dob and dob != profile["date_of_birth"]:
                rejections.append(("other", "the date of birth on the document differs from the profile"))
            elif dob:
                evidence.append("date of birth matches the profile")
        else:
            evidence.append("no identity provider reading to compare the name with")
    if rejections:
        return Verdict("reject", rejections[0][0], [why for _, why in rejections], evidence)
    return Verdict("accept", evidence=evidence)


async def _tool(client: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    text = "".join(getattr(part, "text", "") for part in result.content)
    if result.is_error:
        raise RuntimeError(f"{name}: {text}")
    data: dict[str, Any] = result.structured_content or json.loads(text)
    return data


def _client(url: str, token: str) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return http, Client(streamable_http_client(url, http_client=http))


async def precheck_run(*, url: str, token: str, limit: int = 20) -> dict[str, int]:
    """Propose a decision for each pending document nobody has proposed one for yet."""
    http, client = _client(url, token)
    proposed = {"accept": 0, "reject": 0}
    async with http, client:
        pending = await _tool(client, "pending_documents", {"limit": limit})
        checklists: dict[str, dict[str, Any]] = {}
        for row in pending["documents"]:
            reference = row["client_reference"]
            if reference not in checklists:
                checklists[reference] = await _tool(client, "document_checklist", {"client_reference": reference})
            checklist = checklists[reference]
            document = next(d for d in checklist["documents"] if d["id"] == row["id"])
            verdict = document_verdict(document, checklist["profile"], date.fromisoformat(checklist["today"]))
            rationale = (
                "All pre-checks passed: " + "; ".join(verdict.evidence)
                if verdict.decision == "accept"
                else "Pre-check failed: " + "; ".join(verdict.findings)
            )
            await _tool(
                client,
                "propose_kyc_document_decision",
                {
                    "document_id": document["id"],
                    "decision": verdict.decision,
                    "reason_code": verdict.reason_code,
                    "note": rationale,
                    "rationale": rationale,
                    "evidence": verdict.evidence + verdict.findings,
                },
            )
            proposed[verdict.decision] += 1
    return proposed


@dataclass
class Routing:
    queue: str = ""
    risk_level: str = ""
    why: list[str] = field(default_factory=list)


def item_routing(item: dict[str, Any], client: dict[str, Any]) -> Routing | None:
    """Routing and priority for a new item about a client (the data of ``queue_items`` and
    ``client_summary``): the item's risk level at least the client's, and a high-risk client's
    item moved where it belongs. None when nothing should change."""
    routing = Routing()
    client_risk = str(client.get("risk_level") or "low")
    if RISK_RANK.get(client_risk, 0) > RISK_RANK.get(item["risk_level"], 0):
        routing.risk_level = client_risk
        routing.why.append(f"the client {client['reference']} is {client_risk} risk; the item was {item['risk_level']}")
    target = HIGH_RISK_ROUTES.get(item["queue"])
    if target and RISK_RANK.get(client_risk, 0) >= RISK_RANK["high"]:
        routing.queue = target
        routing.why.append(f"a {client_risk}-risk client's {item['queue_name'].lower()} item belongs to compliance")
    return routing if routing.queue or routing.risk_level else None


async def triage_run(*, url: str, token: str, limit: int = 50) -> dict[str, Any]:
    """Rank the open items (risk, then due time); for each new item about a client (open, nobody
    on it), propose its routing and priority; and propose closing the obvious ones: a KYC review
    item whose client is no longer waiting for a decision. Items with a proposal pending are left."""
    http, client = _client(url, token)
    rank = {"critical": -1, "high": 0, "medium": 1, "low": 2}
    proposed = routed = 0
    async with http, client:
        items = (await _tool(client, "queue_items", {"limit": limit}))["items"]
        ranked = sorted(items, key=lambda i: (rank.get(i["risk_level"], 3), i["due_at"] or "9999"))
        summaries: dict[str, dict[str, Any] | None] = {}

        async def summary_of(reference: str) -> dict[str, Any] | None:
            if reference not in summaries:
                try:
                    summaries[reference] = await _tool(client, "client_summary", {"client_reference": reference})
                except RuntimeError:
                    summaries[reference] = None
            return summaries[reference]

        for item in items:
            reference = item.get("client_reference")
            if not reference or not item["subject"].startswith("accounts.client:"):
                continue
            pending = set(item.get("proposals_pending") or [])
            summary = await summary_of(str(reference))
            if summary is None:
                continue
            new = item["status"] == "open" and item["owner"] is None
            routing = item_routing(item, summary) if new and ROUTING not in pending else None
            if routing is not None:
                rationale = "Triage: " + "; ".join(routing.why) + "."
                try:
                    await _tool(
                        client,
                        "propose_work_item_routing",
                        {"item_id": item["id"], "queue": routing.queue, "risk_level": routing.risk_level,
                         "rationale": rationale,
                         "evidence": [f"client risk level {summary['risk_level']}", f"item queue {item['queue']}",
                                      f"item risk level {item['risk_level']}"]},
                    )  # fmt: skip
                    routed += 1
                except RuntimeError:
                    pass  # settled meanwhile
            if item["queue"] not in CLIENT_DECISION_QUEUES or RESOLUTION in pending:
                continue
            if summary["status"] in WAITING_STATUSES:
                continue
            subject_id = item["subject"].split(":", 1)[1]
            rationale = (
                f"The client {summary['reference']} is {summary['status']}: nothing is waiting for a KYC decision."
            )
            try:
                await _tool(
                    client,
                    "propose_work_item_resolution",
                    {
                        "item_id": item["id"],
                        "code": "no_action",
                        "note": rationale,
                        "rationale": rationale,
                        "evidence": [f"client status {summary['status']}", f"subject {subject_id}"],
                    },
                )
                proposed += 1
            except RuntimeError:
                continue  # settled meanwhile
    return {"ranked": [i["id"] for i in ranked], "proposed": proposed, "routed": routed}
