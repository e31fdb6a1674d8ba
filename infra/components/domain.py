"""ACM certificates for a custom domain, validated through DNS in its Route 53 zone."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


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
    origin_label: str = "origin"
    """The load balancer is reached by CloudFront as <origin_label>.<name>, with its own certificate."""


class Domain(pulumi.ComponentResource):
    """Two validated certificates: the app's name (us-east-1, CloudFront) and the origin's (regional, ALB).

    The origin's certificate also names the app: CloudFront forwards the viewer's Host (the app's name) to
    the load balancer and refuses an origin certificate that matches neither that Host nor the origin's
    domain (502), see DESIGN.md "The origin certificate names the public host".
    """

    name: str
    origin_name: str
    hosted_zone_id: str
    cdn_certificate_arn: pulumi.Output[str]
    origin_certificate_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:edge:Domain", name, None, opts)
        self.name, self.hosted_zone_id = args.name, args.hosted_zone_id
        self.origin_name = f"{args.origin_label}.{args.name}"
        # A certificate the user brings is used as it is: the kit cannot see its names (DESIGN.md, "Bring
        # your own"), so the origin-certificate-names-the-host rule checks only certificates it requests.
        self.cdn_certificate_arn = (
            pulumi.Output.from_input(args.cdn_certificate_arn)
            if args.cdn_certificate_arn
            else self._certificate(f"{name}-cdn", [args.name], args, args.cdn_provider)
        )
        self.origin_certificate_arn = (
            pulumi.Output.from_input(args.origin_certificate_arn)
            if args.origin_certificate_arn
            else self._certificate(f"{name}-origin", [self.origin_name, args.name], args, None)
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
        # (https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html); the count is known
        # here, so each gets its record by index. Two certificates naming the same domain share its
        # record, hence allow_overwrite (the provider's documented pattern,
        # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/acm_certificate_validation).
        records = []
        for i in range(len(domains)):
            option = certificate.domain_validation_options[i]
            records.append(
                aws.route53.Record(
                    f"{name}-validation" if i == 0 else f"{name}-validation-{i}",
                    zone_id=args.hosted_zone_id,
                    name=option.resource_record_name,
                    type=option.resource_record_type,
                    records=[option.resource_record_value],
                    ttl=300,
                    allow_overwrite=True,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        validation = aws.acm.CertificateValidation(
            f"{name}-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn for record in records],
            opts=opts,
        )
        return validation.certificate_arn
