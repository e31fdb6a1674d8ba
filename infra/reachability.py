"""Whether the flows the app needs are open end to end, and the ones it must never have closed: from the plan.

A pure function of the planned resources, on the neutral `Stack` view the policy rules use, so the same
analysis runs in `scalestack plan`, in the tests and as a CrossGuard stack policy. The parties (load
balancer, app groups, database, cache, interface endpoints) are found by type and property dependencies
(an auto-scaling group's launch template's network-interface security groups, the load balancer's
`securityGroups`, the database's `vpcSecurityGroupIds`...), never by logical name.

A flow is open when the source's egress admits the destination, the destination's ingress admits the
source, and a route carries it. Security groups are stateful: the reply of an admitted connection needs
no rule (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html). A rule naming a
security group admits the network interfaces that carry that group; a CIDR rule admits the addresses in
it (https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html). A subnet with no
explicit route table association uses the VPC's main route table, which a new VPC creates with the local
route only (https://docs.aws.amazon.com/vpc/latest/userguide/VPC_Route_Tables.html). A value the plan
cannot know (an id of something outside the stack, a port still unknown) is "can't tell": it never
breaks a required flow and never opens a forbidden one.

Forbidden flows are judged at the security groups: placement alone (a private subnet) is one route
table change away from exposure, so the groups must close them too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from infra.policies import tokens as t
from infra.policies.model import Resource, Stack
from infra.policies.rules.network import Permission, egress_permissions, permissions
from infra.policies.values import flag, is_unknown, items, number

INSTANCE_AWS_SERVICES: Final = (
    "ecr.api",
    "ecr.dkr",
    "ssm",
    "ssmmessages",
    "ec2messages",
    "logs",
    "secretsmanager",
)
"""AWS APIs the instances call (image pulls, Session Manager, logs, secrets); the network gives each an
interface endpoint so this traffic stays off the NAT."""

HTTPS: Final = 443
_ALL_PROTOCOLS: Final = {"-1", "all"}
_TCP: Final = {"tcp", "6"}
_ENGINE_PORTS: Final = {"postgres": 5432, "mysql": 3306, "mariadb": 3306}
_CACHE_PORT: Final = 6379

Verdict = bool | None  # None: the plan can't tell


@dataclass(frozen=True)
class Party:
    """One end of a flow: what it is called, the resource it stands for, its groups and subnets."""

    label: str
    resource: Resource | None = None  # None for the internet and CloudFront
    groups: tuple[Resource, ...] = ()
    subnets: tuple[Resource, ...] = ()
    outside: bool = False  # the internet or CloudFront: addresses outside the VPC

    @property
    def group_names(self) -> str:
        return ", ".join(g.name for g in self.groups) or "(no security group)"


INTERNET: Final = Party("internet", outside=True)
CLOUDFRONT: Final = Party("cloudfront", outside=True)


@dataclass(frozen=True)
class Flow:
    flow: str
    required: bool
    open: bool
    explanation: str
    culprit: Resource | None = field(default=None, compare=False)
    """The resource to fix (or look at) when the flow is wrong; findings are reported on it."""

    @property
    def wrong(self) -> bool:
        return self.open != self.required

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "kind": "required" if self.required else "forbidden",
            "open": self.open,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class _Hop:
    """One security-group or route check: whether it passes, and what to say about it."""

    verdict: Verdict
    detail: str  # what is missing, when it fails (or what can't be told)
    culprit: Resource | None = None
    ok: str = ""  # what lets the packet through, when it passes


def analyse(stack: Stack) -> list[Flow]:
    """Every flow of the app the stack describes, required and forbidden, in a stable order."""
    return _Network(stack).flows()


def _any(verdicts: Iterable[Verdict]) -> Verdict:
    found: Verdict = False
    for verdict in verdicts:
        if verdict is True:
            return True
        if verdict is None:
            found = None
    return found


class _Network:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.ingress: dict[str, list[Permission]] = {}
        self.egress: dict[str, list[Permission]] = {}
        for resource in stack.resources:
            for table, found in ((self.ingress, permissions), (self.egress, egress_permissions)):
                for permission in found(resource):
                    for group in self._owners(permission):
                        table.setdefault(group.urn, []).append(permission)
        self.table_of = {
            subnet.urn: table
            for association in stack.of_type(*t.ROUTE_TABLE_ASSOCIATION)
            for subnet in stack.sources(association, "subnetId", *t.SUBNET)
            for table in stack.sources(association, "routeTableId", *t.ROUTE_TABLE)
        }

    # --- the parties -------------------------------------------------------------------------------

    def load_balancers(self) -> list[Party]:
        return [
            Party(
                lb.name,
                lb,
                tuple(self.stack.sources(lb, "securityGroups", *t.SECURITY_GROUP)),
                tuple(self.stack.sources(lb, "subnets", *t.SUBNET)),
            )
            for lb in self.stack.of_type(*t.LOAD_BALANCER)
            if lb.get("loadBalancerType", "application") == "application"
        ]

    def app_groups(self) -> list[Party]:
        parties = []
        for asg in self.stack.of_type(*t.AUTOSCALING_GROUP):
            templates = [
                lt
                for prop in ("launchTemplate", "mixedInstancesPolicy")
                for lt in self.stack.sources(asg, prop, *t.LAUNCH_TEMPLATE)
            ]
            groups = {
                g.urn: g
                for lt in templates
                for prop in ("networkInterfaces", "vpcSecurityGroupIds", "securityGroupNames")
                for g in self.stack.sources(lt, prop, *t.SECURITY_GROUP)
            }
            subnets = self.stack.sources(asg, "vpcZoneIdentifiers", *t.SUBNET)
            parties.append(Party(asg.name, asg, tuple(groups.values()), tuple(subnets)))
        return sorted(parties, key=lambda p: p.label)

    def target_groups(self, asg: Resource) -> list[Resource]:
        attached = [
            tg
            for attachment in self.stack.referencing(asg, "autoscalingGroupName", *t.ASG_ATTACHMENT)
            for tg in self.stack.sources(attachment, "lbTargetGroupArn", *t.TARGET_GROUP)
        ]
        return self.stack.sources(asg, "targetGroupArns", *t.TARGET_GROUP) + attached

    def balancer_of(self, target_group: Resource, balancers: Sequence[Party]) -> list[Party]:
        """The load balancers whose listeners (or listener rules) forward to the target group."""
        listeners = self.stack.referencing(target_group, "defaultActions", *t.LISTENER) + [
            listener
            for rule in self.stack.referencing(target_group, "actions", *t.LISTENER_RULE)
            for listener in self.stack.sources(rule, "listenerArn", *t.LISTENER)
        ]
        owners = {
            lb.urn for li in listeners for lb in self.stack.sources(li, "loadBalancerArn", *t.LOAD_BALANCER)
        }
        found = [b for b in balancers if b.resource is not None and b.resource.urn in owners]
        # A target group the plan can't tie to a listener is served by the only load balancer there is.
        return found or (list(balancers) if len(balancers) == 1 else [])

    def databases(self) -> list[tuple[Party, int]]:
        primaries_first = sorted(
            self.stack.of_type(*t.DB_INSTANCE), key=lambda db: db.get("replicateSourceDb") is not None
        )
        return self._merged(primaries_first, "vpcSecurityGroupIds", self._db_subnets, self._db_port)

    def caches(self) -> list[tuple[Party, int]]:
        return self._merged(
            self.stack.of_type(*t.CACHE_REPLICATION_GROUP),
            "securityGroupIds",
            lambda c: [
                s
                for group in self.stack.sources(c, "subnetGroupName", *t.CACHE_SUBNET_GROUP)
                for s in self.stack.sources(group, "subnetIds", *t.SUBNET)
            ],
            lambda c: int(number(c.get("port")) or _CACHE_PORT),
        )

    def _merged(
        self,
        stores: Sequence[Resource],
        groups_prop: str,
        subnets: Callable[[Resource], list[Resource]],
        port: Callable[[Resource], int],
    ) -> list[tuple[Party, int]]:
        """One party per distinct placement: a primary and replicas sharing groups are analysed once."""
        seen: dict[tuple[frozenset[str], frozenset[str], int], tuple[Party, int]] = {}
        for store in stores:
            groups = tuple(self.stack.sources(store, groups_prop, *t.SECURITY_GROUP))
            placed = tuple(subnets(store))
            key = (frozenset(g.urn for g in groups), frozenset(s.urn for s in placed), port(store))
            seen.setdefault(key, (Party(store.name, store, groups, placed), port(store)))
        return list(seen.values())

    def _db_source(self, db: Resource) -> Resource | None:
        return next(iter(self.stack.sources(db, "replicateSourceDb", *t.DB_INSTANCE)), None)

    def _db_subnets(self, db: Resource) -> list[Resource]:
        own = [
            s
            for group in self.stack.sources(db, "dbSubnetGroupName", *t.DB_SUBNET_GROUP)
            for s in self.stack.sources(group, "subnetIds", *t.SUBNET)
        ]
        source = self._db_source(db)
        # A same-region read replica is placed in its source's subnet group.
        return own or (self._db_subnets(source) if source is not None else [])

    def _db_port(self, db: Resource) -> int:
        explicit = number(db.get("port"))
        if explicit is not None:
            return int(explicit)
        source = self._db_source(db)
        if source is not None:
            return self._db_port(source)
        return _ENGINE_PORTS.get(str(db.get("engine", "postgres")), _ENGINE_PORTS["postgres"])

    def interface_endpoints(self) -> dict[str, tuple[Resource, Party]]:
        """Service (e.g. "ecr.api") -> its interface endpoint, for those that answer the public name."""
        found: dict[str, tuple[Resource, Party]] = {}
        for endpoint in self.stack.of_type(*t.VPC_ENDPOINT):
            if str(endpoint.get("vpcEndpointType", "Gateway")).lower() != "interface":
                continue
            # Without private DNS the service's public name still resolves to public addresses (NAT path).
            if flag(endpoint.get("privateDnsEnabled")) is False:
                continue
            party = Party(
                endpoint.name,
                endpoint,
                tuple(self.stack.sources(endpoint, "securityGroupIds", *t.SECURITY_GROUP)),
                tuple(self.stack.sources(endpoint, "subnetIds", *t.SUBNET)),
            )
            found[_service(endpoint)] = (endpoint, party)
        return found

    def s3_gateway_tables(self) -> set[str]:
        return {
            table.urn
            for endpoint in self.stack.of_type(*t.VPC_ENDPOINT)
            if str(endpoint.get("vpcEndpointType", "Gateway")).lower() == "gateway"
            and _service(endpoint) == "s3"
            for table in self.stack.sources(endpoint, "routeTableIds", *t.ROUTE_TABLE)
        }

    # --- security groups ---------------------------------------------------------------------------

    def _owners(self, permission: Permission) -> list[Resource]:
        if permission.target_prop is None:
            return [permission.declared_by]
        return self.stack.sources(permission.declared_by, permission.target_prop, *t.SECURITY_GROUP)

    def _peers(self, permission: Permission) -> tuple[list[Resource], bool]:
        """The security groups a rule names as its peer, and whether it names one the plan can't see."""
        assert permission.source_prop is not None
        named = self.stack.sources(permission.declared_by, permission.source_prop, *t.SECURITY_GROUP)
        # Inline entries' `self` has no dependency to follow, so it stays "can't tell" (has_group_source).
        if permission.target_prop is not None and permission.declared_by.get("self") is True:
            named.extend(self._owners(permission))
        return named, permission.has_group_source and not named

    def _admits(self, permission: Permission, party: Party) -> Verdict:
        """Whether the rule's peer (source of an ingress, destination of an egress) covers the party."""
        peers, unseen = self._peers(permission)
        if any(p.urn in {g.urn for g in party.groups} for p in peers):
            return True
        verdicts: list[Verdict] = [None] if unseen else []
        verdicts += [self._cidr_covers(cidr, party) for cidr in permission.cidrs]
        # A prefix list's entries aren't in the plan. One that admits traffic to the load balancer is taken
        # for CloudFront's (the kit's only use); anywhere else it can't tell.
        verdicts += [True if party is CLOUDFRONT else None for _ in permission.prefix_lists]
        return _any(verdicts)

    def _cidr_covers(self, cidr: Any, party: Party) -> Verdict:
        if is_unknown(cidr):
            return None
        try:
            block = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            return False
        if party.outside:
            return not block.is_private
        blocks = [_block(s) for s in party.subnets]
        if not blocks or any(b is None for b in blocks):
            return None
        return all(b is not None and b.version == block.version and b.subnet_of(block) for b in blocks)  # type: ignore[arg-type]

    def _allows(
        self, rules: dict[str, list[Permission]], owner: Party, peer: Party, port: int | None
    ) -> Verdict:
        # Rules can only be matched against groups the plan shows on both ends (or addresses outside).
        if not owner.groups or not (peer.outside or peer.groups):
            return None
        return _any(
            _all_of(_port_matches(p, port), self._admits(p, peer))
            for g in owner.groups
            for p in rules.get(g.urn, [])
        )

    def egress_hop(self, source: Party, target: Party, port: int | None) -> _Hop:
        verdict = self._allows(self.egress, source, target, port)
        where = f"{target.group_names}" if target.groups else target.label
        return _Hop(
            verdict,
            f"security group {source.group_names} has no egress to {where}{_on(port)}",
            source.groups[0] if source.groups else source.resource,
            f"security group {source.group_names} has egress to {where}{_on(port)}",
        )

    def ingress_hop(self, source: Party, target: Party, port: int | None) -> _Hop:
        verdict = self._allows(self.ingress, target, source, port)
        where = source.group_names if source.groups else source.label
        return _Hop(
            verdict,
            f"security group {target.group_names} has no ingress from {where}{_on(port)}",
            target.groups[0] if target.groups else target.resource,
            f"security group {target.group_names} has ingress from {where}{_on(port)}",
        )

    def admitting(self, target: Party, source: Party) -> list[Permission]:
        """The ingress rules of the target's groups that admit the source (any port): forbidden-flow check."""
        return [
            p for g in target.groups for p in self.ingress.get(g.urn, []) if self._admits(p, source) is True
        ]

    # --- routes ------------------------------------------------------------------------------------

    def _default_routes(
        self, subnet: Resource
    ) -> tuple[Resource | None, list[tuple[str, list[Resource], Any]]]:
        """The subnet's route table and its routes to 0.0.0.0/0 as (kind, target resources, raw id)."""
        table = self.table_of.get(subnet.urn)
        if table is None:
            return None, []
        found = []
        for entry in items(table.get("routes")) or []:
            if isinstance(entry, dict) and entry.get("cidrBlock") == "0.0.0.0/0":
                found.append(self._route_target(table, "routes", entry))
        for route in self.stack.referencing(table, "routeTableId", *t.ROUTE):
            if route.get("destinationCidrBlock") == "0.0.0.0/0":
                found.append(self._route_target(route, None, route.props))
        return table, found

    def _route_target(self, owner: Resource, prop: str | None, entry: Any) -> tuple[str, list[Resource], Any]:
        for key, kind, types in (
            ("natGatewayId", "nat", t.NAT_GATEWAY),
            ("gatewayId", "igw", t.INTERNET_GATEWAY),
        ):
            raw = entry.get(key)
            if raw is None:
                continue
            targets = self.stack.sources(owner, prop or key, *types)
            if kind == "igw" and not targets and isinstance(raw, str) and not raw.startswith("igw-"):
                return "other", [], raw
            return kind, targets, raw
        return "other", [], None

    def public(self, subnet: Resource) -> _Hop:
        table, routes = self._default_routes(subnet)
        if table is None:
            return self._no_table(subnet, "has no route to an internet gateway")
        if any(kind == "igw" for kind, _, _ in routes):
            return _Hop(True, "", table, "its subnets route 0.0.0.0/0 to an internet gateway")
        return _Hop(
            False,
            f"route table {table.name} of subnet {subnet.name} has no route to an internet gateway",
            table,
        )

    def _no_table(self, subnet: Resource, what: str) -> _Hop:
        # Without an association the subnet uses the main route table: local route only for a VPC the
        # plan creates; a VPC from outside the plan may have anything.
        in_plan = bool(self.stack.sources(subnet, "vpcId", *t.VPC))
        return _Hop(
            False if in_plan else None,
            f"subnet {subnet.name} uses the main route table, which {what}",
            subnet,
        )

    def through_nat(self, subnet: Resource) -> _Hop:
        table, routes = self._default_routes(subnet)
        if table is None:
            return self._no_table(subnet, "has no default route to a NAT gateway")
        nats = [(targets, raw) for kind, targets, raw in routes if kind == "nat"]
        if not nats:
            return _Hop(
                False,
                f"route table {table.name} of subnet {subnet.name} has no default route to a NAT gateway",
                table,
            )
        gateways = [g for targets, _ in nats for g in targets]
        if not gateways:
            return _Hop(None, f"the NAT gateway of {table.name} is outside the plan", table)
        for gateway in gateways:
            if gateway.get("connectivityType", "public") == "private":
                return _Hop(
                    False, f"NAT gateway {gateway.name} is private, so it cannot reach the internet", gateway
                )
            homes = self.stack.sources(gateway, "subnetId", *t.SUBNET)
            if not homes:
                return _Hop(None, f"the subnet of NAT gateway {gateway.name} is outside the plan", gateway)
            for home in homes:
                hop = self.public(home)
                if hop.verdict is not True:
                    return _Hop(
                        hop.verdict,
                        f"NAT gateway {gateway.name} sits in {home.name}: {hop.detail}",
                        hop.culprit,
                    )
        return _Hop(True, "", table, "its subnets route 0.0.0.0/0 to a NAT gateway in a public subnet")

    # --- the flows ---------------------------------------------------------------------------------

    def flows(self) -> list[Flow]:
        balancers = self.load_balancers()
        apps = self.app_groups()
        stores = self.databases() + self.caches()
        found: list[Flow] = []
        for balancer in balancers:
            found += self._cloudfront_to(balancer)
        for app in apps:
            found += self._balancer_to(app, balancers)
        for app in apps:
            for store, port in stores:
                hops = self._sg_hops(app, store, port)
                # A service that opted out of a store (usesDatabase/usesCache: false) has neither the egress
                # nor the store's admission: that flow must stay closed. Either half present means the
                # service is meant to reach the store, and the flow must be open end to end.
                meant = any(hop.verdict is not False for hop in hops)
                found.append(_flow(f"{app.label} -> {store.label} on {port}", meant, hops))
        endpoints = self.interface_endpoints()
        gateway_tables = self.s3_gateway_tables()
        for app in apps:
            found.append(self._internet(app))
            found += [
                self._aws_service(app, service, endpoints.get(service)) for service in INSTANCE_AWS_SERVICES
            ]
            found.append(self._s3(app, gateway_tables))
        for target in [*apps, *(store for store, _ in stores)]:
            found.append(self._from_internet(target))
        for balancer in balancers:
            for store, port in stores:
                found.append(
                    _flow(
                        f"{balancer.label} -> {store.label} on {port}",
                        False,
                        self._sg_hops(balancer, store, port),
                    )
                )
        return found

    def _sg_hops(self, source: Party, target: Party, port: int | None) -> list[_Hop]:
        return [self.egress_hop(source, target, port), self.ingress_hop(source, target, port)]

    def _cloudfront_to(self, balancer: Party) -> list[Flow]:
        assert balancer.resource is not None
        listeners = self.stack.referencing(balancer.resource, "loadBalancerArn", *t.LISTENER)
        ports = sorted(
            {
                int(port)
                for li in listeners
                if not _only_redirects(li) and (port := number(li.get("port"))) is not None
            }
        )
        internal = flag(balancer.resource.get("internal")) is True
        facing = _Hop(
            not internal,
            f"load balancer {balancer.label} is internal (no address CloudFront can reach)",
            balancer.resource,
        )
        flows = []
        for port in ports:
            hops = [facing, self.ingress_hop(CLOUDFRONT, balancer, port)]
            hops += [self.public(s) for s in balancer.subnets] or [
                _Hop(None, f"the subnets of {balancer.label} are not in the plan")
            ]
            flows.append(_flow(f"cloudfront -> {balancer.label} on {port}", True, hops))
        return flows

    def _balancer_to(self, app: Party, balancers: Sequence[Party]) -> list[Flow]:
        assert app.resource is not None
        flows = []
        for target_group in self.target_groups(app.resource):
            traffic = number(target_group.get("port"))
            check = target_group.get("healthCheck.port", "traffic-port")
            health = traffic if check == "traffic-port" else number(check)
            for balancer in self.balancer_of(target_group, balancers):
                ports = sorted({int(p) for p in (traffic, health) if p is not None})
                for port in ports:
                    what = (
                        "requests and health checks"
                        if traffic == health
                        else ("requests" if port == traffic else "health checks")
                    )
                    flows.append(
                        _flow(
                            f"{balancer.label} -> {app.label} on {port} ({what})",
                            True,
                            [*self._sg_hops(balancer, app, port), _zones_served(balancer, app)],
                        )
                    )
        return flows

    def _internet(self, app: Party) -> Flow:
        return _flow(f"{app.label} -> internet on {HTTPS} (via NAT)", True, self._internet_hops(app))

    def _internet_hops(self, app: Party) -> list[_Hop]:
        hops = [self.egress_hop(app, INTERNET, HTTPS)]
        hops += [self.through_nat(s) for s in app.subnets] or [
            _Hop(None, f"the subnets of {app.label} are not in the plan")
        ]
        return hops

    def _aws_service(self, app: Party, service: str, endpoint: tuple[Resource, Party] | None) -> Flow:
        name = f"{app.label} -> {service} on {HTTPS}"
        if endpoint is None:
            return _flow(f"{name} (via NAT)", True, self._internet_hops(app))
        resource, party = endpoint
        return _flow(f"{name} (via endpoint {resource.name})", True, self._sg_hops(app, party, HTTPS))

    def _s3(self, app: Party, gateway_tables: set[str]) -> Flow:
        tables = [self.table_of.get(s.urn) for s in app.subnets]
        if tables and all(tb is not None and tb.urn in gateway_tables for tb in tables):
            hops = [self.egress_hop(app, INTERNET, HTTPS)]  # the S3 prefix list sits outside the VPC too
            return _flow(f"{app.label} -> s3 on {HTTPS} (via gateway endpoint)", True, hops)
        return _flow(f"{app.label} -> s3 on {HTTPS} (via NAT)", True, self._internet_hops(app))

    def _from_internet(self, target: Party) -> Flow:
        name = f"internet -> {target.label}"
        if not target.groups:
            return Flow(
                name, False, False, "can't tell: its security groups are not in the plan", target.resource
            )
        opening = self.admitting(target, INTERNET)
        if not opening:
            return Flow(
                name,
                False,
                False,
                f"closed: security group {target.group_names} admits no address outside the VPC",
                target.resource,
            )
        rule = opening[0]
        peer = ", ".join(str(c) for c in (*rule.cidrs, *rule.prefix_lists))
        return Flow(
            name,
            False,
            True,
            f"{name}: security group {target.group_names} admits {peer}{_range(rule)} "
            f"through {rule.declared_by.name}",
            rule.declared_by,
        )


def _flow(name: str, required: bool, hops: Sequence[_Hop]) -> Flow:
    """Open when every hop passes; for a required flow an unknown hop counts as passing, for a forbidden
    one as closing (can't tell is never a finding)."""
    failed = next((h for h in hops if h.verdict is False), None)
    unknown = next((h for h in hops if h.verdict is None), None)
    if failed is not None:
        said = f"{name}: {failed.detail}" if required else f"closed: {failed.detail}"
        return Flow(name, required, False, said, failed.culprit)
    if unknown is not None and not required:
        return Flow(name, required, False, f"can't tell: {unknown.detail}", unknown.culprit)
    passed = "; ".join(dict.fromkeys(h.ok for h in hops if h.verdict is True and h.ok))
    if not required:
        return Flow(name, required, True, f"{name}: {passed}", hops[0].culprit)
    note = f" (can't tell: {unknown.detail})" if unknown is not None else ""
    return Flow(name, required, True, f"open: {passed}{note}" if passed else f"open{note}", None)


def _zones(party: Party) -> set[str] | None:
    zones = [s.get("availabilityZone") for s in party.subnets]
    if not zones or not all(isinstance(z, str) and not is_unknown(z) for z in zones):
        return None
    return {str(z) for z in zones}


def _zones_served(balancer: Party, app: Party) -> _Hop:
    """Targets in a zone where the load balancer has no subnet get no traffic from it
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#availability-zones)."""
    served, placed = _zones(balancer), _zones(app)
    if served is None or placed is None:
        return _Hop(None, f"the zones of {balancer.label} or {app.label} are not known")
    missing = sorted(placed - served)
    return _Hop(
        not missing,
        f"load balancer {balancer.label} has no subnet in {', '.join(missing)}, where {app.label} places "
        "instances",
        balancer.resource,
        f"{balancer.label} serves every zone of {app.label}",
    )


def _all_of(*verdicts: Verdict) -> Verdict:
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


def _port_matches(permission: Permission, port: int | None) -> Verdict:
    protocol = permission.protocol
    if is_unknown(protocol):
        return None
    if str(protocol).lower() in _ALL_PROTOCOLS:
        return True
    if str(protocol).lower() not in _TCP:
        return False
    if port is None:
        return True
    low, high = number(permission.from_port), number(permission.to_port)
    if low is None or high is None:
        return None
    return low <= port <= high


def _block(subnet: Resource) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    cidr = subnet.get("cidrBlock")
    if not isinstance(cidr, str):
        return None
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def _service(endpoint: Resource) -> str:
    """ "com.amazonaws.us-east-1.ecr.api" -> "ecr.api"; "" when the name isn't known."""
    name = endpoint.get("serviceName")
    if not isinstance(name, str) or is_unknown(name):
        return ""
    parts = name.split(".")
    return ".".join(parts[3:]) if len(parts) > 3 else ""


def _only_redirects(listener: Resource) -> bool:
    actions = items(listener.get("defaultActions")) or []
    return bool(actions) and all(isinstance(a, dict) and a.get("type") == "redirect" for a in actions)


def _on(port: int | None) -> str:
    return f" on {port}" if port is not None else ""


def _range(permission: Permission) -> str:
    if str(permission.protocol).lower() in _ALL_PROTOCOLS:
        return " on every port"
    low, high = number(permission.from_port), number(permission.to_port)
    if low is None or high is None:
        return ""
    return f" on {low:.0f}" if low == high else f" on {low:.0f}-{high:.0f}"


def wrong_flows(stack: Stack) -> Iterator[Flow]:
    """The required flows that are broken and the forbidden ones that are open."""
    return (f for f in analyse(stack) if f.wrong)
