"""The dashboard's ledger: the CLI's participant API (the same SDK calls as ``tanpo``), signed
as the one identity the dashboard acts as, plus the operator's sweep plan and the event stream."""

from __future__ import annotations

from datetime import date

from tanpo.client.cli_common import GatewayLedger
from tanpo.client.events import ChaincodeEventStream, Checkpoint
from tanpo.client.profile import Profile
from tanpo.client.session import Session
from tanpo.client.sweep import PlanItem, plan_pages


class DeskLedger(GatewayLedger):
    """A `GatewayLedger` with what the pages read beyond the CLI's protocol."""

    def sweep_plan(self, day: date) -> list[PlanItem]:
        """The date's sweep plan: every active agreement this identity may sweep (the operator:
        all of them, ids and parties only), and whether its call for the date ran."""
        return [PlanItem.from_json(item) for page in plan_pages(self.connection, day.isoformat())
                for item in page.get("items") or []]

    def event_stream(self, checkpoint: Checkpoint | None) -> ChaincodeEventStream:
        """The chaincode's events after ``checkpoint`` (none: from the next commit); ``close()``
        on the stream cancels it from any thread."""
        conn = self.connection
        network = conn.gateway.network(conn.profile.channel)
        return network.chaincode_events(conn.profile.chaincode, checkpoint=checkpoint)


def open_desk(party: str, user: str, profile: Profile) -> DeskLedger:
    """Connect as ``user`` of ``party`` (it must be in the profile)."""
    profile.user(party, user)  # an unknown identity fails here, with the profile's message
    return DeskLedger(Session(profile), party, user)
