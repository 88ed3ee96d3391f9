"""`PrivateAccess`: the account reachable from inside a VNet only - a private endpoint in a given subnet, the
`privatelink.openai.azure.com` private DNS zone (created and linked to the VNet, or an existing hub zone), and the
endpoint's DNS zone group, which writes the A record so `<subdomain>.openai.azure.com` resolves to the private IP.

With `publicNetworkAccess: Disabled` this is the only way in, for applications and for the stack's own data-plane
steps (training upload, smoke test, evaluation), which therefore wait for the endpoint and its zone group.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pulumi
from pulumi_azure_native import network, privatedns

from infra.settings import PRIVATE_DNS_ZONE

COMPONENT_TYPE: Final = "aoai-finetune:index:PrivateAccess"
GROUP_ID: Final = "account"
"""The private-link sub-resource of a Cognitive Services account."""
ZONE_LOCATION: Final = "global"
ZONE_GROUP_NAME: Final = "default"
ZONE_CONFIG_NAME: Final = PRIVATE_DNS_ZONE.replace(".", "-")


@dataclass(frozen=True)
class PrivateAccessArgs:
    """Which account, which subnet (and so VNet), and which DNS zone (empty = create one here)."""

    account_id: pulumi.Input[str]
    account_name: str
    resource_group_name: pulumi.Input[str]
    location: str
    subnet_id: str
    virtual_network_id: str
    dns_zone_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


class PrivateAccess(pulumi.ComponentResource):
    """Private endpoint + private DNS zone (+ VNet link when created here) + DNS zone group."""

    endpoint: network.PrivateEndpoint
    zone: privatedns.PrivateZone | None
    vnet_link: privatedns.VirtualNetworkLink | None
    zone_group: network.PrivateDnsZoneGroup
    dns_zone_id: pulumi.Output[str]

    def __init__(self, resource_name: str, args: PrivateAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, resource_name, None, opts)
        tags = dict(args.tags)
        endpoint_name = f"pe-{args.account_name}"
        self.endpoint = network.PrivateEndpoint(
            f"{resource_name}-endpoint",
            private_endpoint_name=endpoint_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            # a reference by id only (SubnetArgs would add its network-policy defaults to the request)
            subnet={"id": args.subnet_id},
            custom_network_interface_name=f"{endpoint_name}-nic",
            private_link_service_connections=[network.PrivateLinkServiceConnectionArgs(
                name=endpoint_name, private_link_service_id=args.account_id, group_ids=[GROUP_ID],
            )],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.zone = None
        self.vnet_link = None
        if args.dns_zone_id:  # a hub's zone: its owner links it to the networks that resolve through it
            self.dns_zone_id = pulumi.Output.from_input(args.dns_zone_id)
        else:
            self.zone = privatedns.PrivateZone(
                f"{resource_name}-dns-zone",
                private_zone_name=PRIVATE_DNS_ZONE,
                resource_group_name=args.resource_group_name,
                location=ZONE_LOCATION,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.vnet_link = privatedns.VirtualNetworkLink(
                f"{resource_name}-dns-link",
                virtual_network_link_name=f"link-{args.virtual_network_id.rsplit('/', 1)[-1]}"[:80],
                private_zone_name=self.zone.name,
                resource_group_name=args.resource_group_name,
                location=ZONE_LOCATION,
                virtual_network=privatedns.SubResourceArgs(id=args.virtual_network_id),
                registration_enabled=False,  # the zone group writes the account's record; VMs register nothing
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.dns_zone_id = self.zone.id
        self.zone_group = network.PrivateDnsZoneGroup(
            f"{resource_name}-dns-zone-group",
            private_dns_zone_group_name=ZONE_GROUP_NAME,
            private_endpoint_name=self.endpoint.name,
            resource_group_name=args.resource_group_name,
            private_dns_zone_configs=[network.PrivateDnsZoneConfigArgs(
                name=ZONE_CONFIG_NAME, private_dns_zone_id=self.dns_zone_id,
            )],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[r for r in (self.vnet_link,) if r is not None]),
        )
        self.register_outputs({"endpoint_id": self.endpoint.id, "dns_zone_id": self.dns_zone_id})

    @property
    def data_plane_access(self) -> list[pulumi.Resource]:
        """What a data-plane call from inside the VNet needs: the endpoint, its DNS record (and the VNet link)."""
        return [r for r in (self.endpoint, self.zone_group, self.vnet_link) if r is not None]
