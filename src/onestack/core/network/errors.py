"""Neutron's error types: each is a class of the one error tree, named as Neutron names it
(the `type` of a NeutronError body), with Neutron's status and message wording."""

from __future__ import annotations

from onestack.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed


class InvalidInput(BadRequest):
    neutron_type = "InvalidInput"

    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid input for operation: {message}")


class NeutronBadRequest(BadRequest):
    neutron_type = "BadRequest"

    def __init__(self, resource: str, message: str) -> None:
        super().__init__(f"Bad {resource} request: {message}.")


class HTTPBadRequest(BadRequest):
    neutron_type = "HTTPBadRequest"


class PolicyNotAuthorized(Forbidden):
    neutron_type = "PolicyNotAuthorized"

    def __init__(self, action: str) -> None:
        super().__init__(f"({action}) is disallowed by policy")


def _not_found(name: str, template: str) -> type[NotFound]:
    def init(self: NotFound, ident: str) -> None:
        NotFound.__init__(self, template.format(ident))

    return type(name, (NotFound,), {"neutron_type": name, "__init__": init})


NetworkNotFound = _not_found("NetworkNotFound", "Network {} could not be found.")
SubnetNotFound = _not_found("SubnetNotFound", "Subnet {} could not be found.")
SubnetPoolNotFound = _not_found("SubnetPoolNotFound", "Subnet pool {} could not be found.")
PortNotFound = _not_found("PortNotFound", "Port {} could not be found.")
RouterNotFound = _not_found("RouterNotFound", "Router {} could not be found")
FloatingIPNotFound = _not_found("FloatingIPNotFound", "Floating IP {} could not be found")
SecurityGroupNotFound = _not_found("SecurityGroupNotFound", "Security group {} does not exist")
SecurityGroupRuleNotFound = _not_found("SecurityGroupRuleNotFound",
                                       "Security group rule {} does not exist")
ExtensionNotFound = _not_found("ExtensionNotFound", "Extension with alias {} does not exist")
TagNotFound = _not_found("TagNotFound", "Tag {} could not be found.")
AgentNotFound = _not_found("AgentNotFound", "Agent {} could not be found.")
MeteringLabelNotFound = _not_found("MeteringLabelNotFound", "Metering label {} does not exist")
MeteringLabelRuleNotFound = _not_found("MeteringLabelRuleNotFound",
                                       "Metering label rule {} does not exist")


class NetworkHostedByDHCPAgent(Conflict):
    neutron_type = "NetworkHostedByDHCPAgent"

    def __init__(self, network_id: str, agent_id: str) -> None:
        super().__init__(f"The network {network_id} has been already hosted by the DHCP Agent "
                         f"{agent_id}.")


class NetworkNotHostedByDhcpAgent(Conflict):
    neutron_type = "NetworkNotHostedByDhcpAgent"

    def __init__(self, network_id: str, agent_id: str) -> None:
        super().__init__(f"The network {network_id} is not hosted by the DHCP agent "
                         f"{agent_id}.")


class RouterInterfaceNotFound(NotFound):
    neutron_type = "RouterInterfaceNotFound"

    def __init__(self, router_id: str, port_id: str) -> None:
        super().__init__(f"Router {router_id} does not have an interface with id {port_id}")


class RouterInterfaceNotFoundForSubnet(NotFound):
    neutron_type = "RouterInterfaceNotFoundForSubnet"

    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router {router_id} has no interface on subnet {subnet_id}")


class ExternalGatewayForFloatingIPNotFound(NotFound):
    neutron_type = "ExternalGatewayForFloatingIPNotFound"

    def __init__(self, ext_net: str, subnet_id: str, port_id: str) -> None:
        super().__init__(
            f"External network {ext_net} is not reachable from subnet {subnet_id}.  "
            f"Therefore, cannot associate Port {port_id} with a Floating IP.")


class IpAddressAlreadyAllocated(Conflict):
    neutron_type = "IpAddressAlreadyAllocated"

    def __init__(self, ip: str, subnet_id: str) -> None:
        super().__init__(f"IP address {ip} already allocated in subnet {subnet_id}")


class IpAddressGenerationFailure(Conflict):
    neutron_type = "IpAddressGenerationFailure"

    def __init__(self, net_id: str) -> None:
        super().__init__(f"No more IP addresses available on network {net_id}.")


class MacAddressInUse(Conflict):
    neutron_type = "MacAddressInUse"

    def __init__(self, net_id: str, mac: str) -> None:
        super().__init__(f"Unable to complete operation for network {net_id}. "
                         f"The mac address {mac} is in use.")


class NetworkInUse(Conflict):
    neutron_type = "NetworkInUse"

    def __init__(self, net_id: str) -> None:
        super().__init__(f"Unable to complete operation on network {net_id}. There are one "
                         "or more ports still in use on the network.")


class SubnetInUse(Conflict):
    neutron_type = "SubnetInUse"

    def __init__(self, subnet_id: str, reason: str = "") -> None:
        reason = reason or "One or more ports have an IP allocation from this subnet."
        super().__init__(f"Unable to complete operation on subnet {subnet_id}: {reason}")


class SubnetPoolInUse(Conflict):
    neutron_type = "SubnetPoolInUse"

    def __init__(self, pool_id: str) -> None:
        super().__init__(f"Unable to complete operation on subnet pool {pool_id}. "
                         "Subnets are still allocated from it.")


class PortInUse(Conflict):
    neutron_type = "PortInUse"

    def __init__(self, net_id: str, port_id: str, device_id: str) -> None:
        super().__init__(f"Unable to complete operation on port {port_id} for network "
                         f"{net_id}. Port already has an attached device {device_id}.")


class L3PortInUse(Conflict):
    neutron_type = "L3PortInUse"

    def __init__(self, port_id: str, owner: str) -> None:
        super().__init__(f"Port {port_id} cannot be deleted directly via the port API: has "
                         f"device owner {owner}.")


class RouterInUse(Conflict):
    neutron_type = "RouterInUse"

    def __init__(self, router_id: str, reason: str = "still has ports") -> None:
        super().__init__(f"Router {router_id} {reason}")


class RouterInterfaceInUseByFloatingIP(Conflict):
    neutron_type = "RouterInterfaceInUseByFloatingIP"

    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router interface for subnet {subnet_id} on router {router_id} "
                         "cannot be deleted, as it is required by one or more floating IPs.")


class FloatingIPPortAlreadyAssociated(Conflict):
    neutron_type = "FloatingIPPortAlreadyAssociated"

    def __init__(self, port_id: str, fip_id: str, ip: str, fixed_ip: str) -> None:
        super().__init__(
            f"Cannot associate floating IP {ip} ({fip_id}) with port {port_id} using fixed IP "
            f"{fixed_ip}, as that fixed IP already has a floating IP on external network.")


class FlatNetworkInUse(Conflict):
    neutron_type = "FlatNetworkInUse"

    def __init__(self, physnet: str) -> None:
        super().__init__(f"Unable to create the flat network. Physical network {physnet} is "
                         "in use.")


class SegmentationIdInUse(Conflict):
    neutron_type = "VlanIdInUse"

    def __init__(self, kind: str, seg: int, physnet: str) -> None:
        where = f" on physical network {physnet}" if physnet else ""
        super().__init__(f"Unable to create the network. The {kind} segmentation id {seg}"
                         f"{where} is in use.")


class NoNetworkAvailable(Conflict):
    neutron_type = "NoNetworkAvailable"
    default_message = ("Unable to create the network. No tenant network is available for "
                       "allocation.")


class SecurityGroupInUse(Conflict):
    neutron_type = "SecurityGroupInUse"

    def __init__(self, sg_id: str) -> None:
        super().__init__(f"Security Group {sg_id} in use.")


class SecurityGroupRuleExists(Conflict):
    neutron_type = "SecurityGroupRuleExists"

    def __init__(self, rule_id: str) -> None:
        super().__init__(f"Security group rule already exists. Rule id is {rule_id}.")


class SecurityGroupConflict(Conflict):
    neutron_type = "SecurityGroupConflict"


class OverQuota(Conflict):
    neutron_type = "OverQuota"

    def __init__(self, resources: list[str]) -> None:
        super().__init__(f"Quota exceeded for resources: {resources}.")


class RevisionNumberConstraintFailed(PreconditionFailed):
    neutron_type = "RevisionNumberConstraintFailed"

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(f"Constrained to {expected}, but current revision is {current}")
