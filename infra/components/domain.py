"""ACM certificates for a custom domain, validated through DNS in its Route 53 zone."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import hosts


@dataclass(frozen=True)
class DomainArgs:
    name: str
    """Where users reach the app, e.g. app.example.com (served by CloudFront)."""
    hosted_zone_id: str
    cdn_provider: pulumi.ProviderResource
    """A provider in us-east-1: CloudFront takes certificates from there only."""
    cdn_certificate_arn: str | None
    """An issued certificate for `name` in us-east-1 to use instead of requesting one."""
    origin_certificate_arn: str | None
    """An issued certificate in the stack's region for origin.<name> and `name`, instead of requesting one."""
    host_names: tuple[str, ...]
    """The hosts web services route on (the name or names under it, infra/hosts.py): CloudFront answers
    for them and forwards them as Host to the load balancer, so both certificates name them."""


class Domain(pulumi.ComponentResource):
    """Two validated certificates: the app's names (us-east-1, CloudFront) and the origin's (regional, ALB).

    The origin's certificate also names the app and every routed host: CloudFront forwards the viewer's
    Host (one of those names) to the load balancer and refuses an origin certificate that matches neither
    that Host nor the origin's domain (502), see DESIGN.md "The origin certificate names the public host".
    """

    name: str
    origin_name: str
    hosted_zone_id: str
    host_names: tuple[str, ...]
    cdn_certificate_arn: pulumi.Output[str]
    origin_certificate_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:edge:Domain", name, None, opts)
        self.name, self.hosted_zone_id, self.host_names = args.name, args.hosted_zone_id, args.host_names
        self.origin_name = f"{hosts.ORIGIN_LABEL}.{args.name}"
        # A certificate the user brings is used as it is: the kit cannot see its names (DESIGN.md, "Bring
        # your own"), so the origin-certificate-names-the-host rule checks only certificates it requests.
        self.cdn_certificate_arn = (
            pulumi.Output.from_input(args.cdn_certificate_arn)
            if args.cdn_certificate_arn
            else self._certificate(
                f"{name}-cdn",
                hosts.viewer_certificate_names(args.name, args.host_names),
                args,
                args.cdn_provider,
            )
        )
        self.origin_certificate_arn = (
            pulumi.Output.from_input(args.origin_certificate_arn)
            if args.origin_certificate_arn
            else self._certificate(
                f"{name}-origin", hosts.origin_certificate_names(args.name, args.host_names), args, None
            )
        )
        self.register_outputs({"name": self.name, "originName": self.origin_name})

    def _certificate(
        self, name: str, domains: list[str], args: DomainArgs, provider: pulumi.ProviderResource | None
    ) -> pulumi.Output[str]:
        """A certificate for `domains` (the first is its subject), validated by one DNS record per name."""
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=domains[0],
            subject_alternative_names=domains[1:] or None,
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            opts=opts,
        )
        # ACM gives one validation option per name on the certificate
        # (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html), in no promised order, so
        # each record takes the option of its own name. A wildcard is validated by its base name's record
        # (hosts.validation_name): a second record of the same name would be a second resource owning one
        # DNS record, and destroying either would delete it. Two certificates naming the same domain share
        # its record, hence allow_overwrite (the provider's documented pattern,
        # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/acm_certificate_validation).
        # Records are kept when Pulumi deletes or replaces them: a shared record's owner going (a brought
        # certificate, a host dropped) or a stack whose records were taken by index before moving each to
        # its own name would otherwise delete a CNAME another certificate still renews by; a left CNAME is
        # harmless and reused by the next certificate for the name.
        validated = list(dict.fromkeys(hosts.validation_name(d) for d in domains))
        records = []
        for i, validated_name in enumerate(validated):
            record = certificate.domain_validation_options.apply(
                functools.partial(_record_for, validated_name)
            )
            records.append(
                aws.route53.Record(
                    f"{name}-validation" if i == 0 else f"{name}-validation-{i}",
                    zone_id=args.hosted_zone_id,
                    name=record.apply(lambda r: r[0]),
                    type=record.apply(lambda r: r[1]),
                    records=[record.apply(lambda r: r[2])],
                    ttl=300,
                    allow_overwrite=True,
                    opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
                )
            )
        validation = aws.acm.CertificateValidation(
            f"{name}-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn for record in records],
            opts=opts,
        )
        return validation.certificate_arn


def _record_for(
    name: str, options: list[aws.acm.outputs.CertificateDomainValidationOption]
) -> tuple[str, str, str]:
    """The name, type and value of the DNS record that validates `name` (a wildcard's is its base name's)."""
    option = next(o for o in options if hosts.validation_name(o.domain_name or "") == name)
    return (
        option.resource_record_name or "",
        option.resource_record_type or "",
        option.resource_record_value or "",
    )
