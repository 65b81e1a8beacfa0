"""The operator admin's first act: register the network's identities in the role registry.

The operator's User1 is token administrator and oracle, its User2 the oracle only; each bank's
User1 and User2 act for their bank as a party. Organisation admins get no role: they run peers,
not business. Re-registering an identity with the same roles is a no-op in the chaincode, so
this is safe to repeat.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from tanpo.client.profile import load_profile
from tanpo.network.topology import Topology

ROLES = {
    ("operator", "User1"): ["token-admin", "oracle"],
    ("operator", "User2"): ["oracle"],
}
PARTY_ROLES = ["party"]


def planned_registrations(topo: Topology) -> list[tuple[str, str, list[str]]]:
    out = []
    for org in topo.peer_orgs:
        for user in ("User1", "User2"):
            roles = ROLES.get((org.party, user), PARTY_ROLES if org.party != "operator" else [])
            if roles:
                out.append((org.party, user, roles))
    return out


def bootstrap_roles(topo: Topology) -> int:
    marker = topo.state_dir / "roles-bootstrapped"
    if marker.exists():
        return 0
    from tanpo.client import RetryPolicy, connect
    from tanpo.client.gateway import DEFAULT_RETRIES, MVCC_RETRY, constant, no_endorsers_yet

    # The first registration may wait up to 90 s for gossip (the SDK's default waits 30 s).
    gossip_retry = RetryPolicy(attempts=91, backoff=constant(1.0), retry_on=no_endorsers_yet)

    profile = load_profile(topo.profile_file)
    plan = planned_registrations(topo)
    with connect("operator", "Admin", profile) as admin:
        roles = admin.contract("roles")

        def register(item: tuple[str, str, list[str]],
                     retries: Sequence[RetryPolicy] = DEFAULT_RETRIES) -> None:
            party, user, granted = item
            org, info = profile.user(party, user)
            result = roles.submit(
                "RegisterIdentity", org.msp_id, info.cert.read_text(), party, json.dumps(granted),
                retries=retries,
            )
            admin.wait_for_all_peers(result.block_number, timeout=60.0, poll=0.05)

        # Right after a commit, peers learn through gossip which others run the chaincode; until
        # then the gateway cannot find a peer set that satisfies the policy. Wait for that once.
        register(plan[0], (MVCC_RETRY, gossip_retry))
        # A bank's first registration creates its balances and its pairs' keys, each under a
        # state-based policy: two such in one block would both create the same keys, and Fabric
        # invalidates the second (ENDORSEMENT_POLICY_FAILURE), so they go one at a time.
        firsts: list[tuple[str, str, list[str]]] = []
        rest: list[tuple[str, str, list[str]]] = []
        seen = {plan[0][0]}
        for item in plan[1:]:
            (rest if item[0] in seen else firsts).append(item)
            seen.add(item[0])
        for item in firsts:
            register(item)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(register, rest))
    marker.write_text(json.dumps([f"{p}/{u}: {','.join(r)}" for p, u, r in plan], indent=1))
    return len(plan)


def wait_for_ordering(topo: Topology, timeout: float = 150.0) -> None:
    """Submit a no-op through every organisation's gateway until each is ordered and committed.

    After an orderer restarts, the Raft election takes seconds, and each peer's gateway, whose
    connection to it broke, redials only after its gRPC back-off (up to two minutes): until
    then a submit through that peer fails at once ("connection refused"). Only a real
    broadcast through every peer shows that the network accepts transactions again.
    """
    from tanpo.client import RetryPolicy, connect
    from tanpo.client.errors import GatewayError
    from tanpo.client.gateway import MVCC_RETRY, constant

    def not_yet(error: Exception) -> bool:
        return isinstance(error, GatewayError) and (error.orderer_unavailable
                                                    or error.transient or error.no_endorsers)

    waiting = RetryPolicy(attempts=100_000, backoff=constant(0.5), retry_on=not_yet)
    profile = load_profile(topo.profile_file)

    def through(party: str) -> None:
        with connect(party, "User1", profile) as conn:
            conn.contract("ping").submit("Noop", retries=(MVCC_RETRY, waiting), timeout=timeout)

    with ThreadPoolExecutor(max_workers=len(topo.peer_orgs)) as pool:
        list(pool.map(through, [org.party for org in topo.peer_orgs]))
