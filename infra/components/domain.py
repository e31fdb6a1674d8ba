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
    origin_label: str = "origin"
    """The load balancer is reached by CloudFront as <origin_label>.<name>, with its own certificate."""


class Domain(pulumi.ComponentResource):
    """Two validated certificates: the app's name (us-east-1, CloudFront) and the origin's (regional, ALB)."""

    name: str
    origin_name: str
    hosted_zone_id: str
    cdn_certificate_arn: pulumi.Output[str]
    origin_certificate_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:edge:Domain", name, None, opts)
        self.name, self.hosted_zone_id = args.name, args.hosted_zone_id
        self.origin_name = f"{args.origin_label}.{args.name}"
        self.cdn_certificate_arn = self._certificate(f"{name}-cdn", args.name, args, args.cdn_provider)
        self.origin_certificate_arn = self._certificate(f"{name}-origin", self.origin_name, args, None)
        self.register_outputs({"name": self.name, "originName": self.origin_name})

    def _certificate(
        self, name: str, domain: str, args: DomainArgs, provider: pulumi.ProviderResource | None
    ) -> pulumi.Output[str]:
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=domain,
            validation_method="DNS",
            key_algorithm="EC_prime256v1",
            opts=opts,
        )
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-validation",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-validated",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=opts,
        )
        return validation.certificate_arn
