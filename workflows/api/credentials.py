"""`/api/v1/credentials`: each user's own stored credentials (staff included: nobody
lists another user's). The secret is write-only: sent on create (and on update to
replace it), never returned."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from workflows.api import serializers as s
from workflows.api.views import object_body
from workflows.credentials import SECRET_FIELDS, set_secret
from workflows.models import Credential, CredentialKind

ERRORS = {400: s.ErrorSerializer}
#: every secret field of every kind (write-only)
SECRET_NAMES = ("token", "username", "password", "api_key")


class CredentialSerializer(serializers.ModelSerializer):
    """A credential as it is shown: everything but the secret."""

    class Meta:
        model = Credential
        fields = ["id", "name", "kind", "base_url", "header", "created_at", "updated_at"]
        read_only_fields = fields


class CredentialWriteSerializer(serializers.ModelSerializer):
    """Create: name, kind, base_url and the kind's secret fields (bearer: token; basic:
    username and password; api_key: api_key, and header, X-API-Key by default). Update: any
    of them; a new kind needs its secret fields."""

    token = serializers.CharField(write_only=True, required=False, max_length=4096,
                                  trim_whitespace=False)
    username = serializers.CharField(write_only=True, required=False, max_length=1024,
                                     trim_whitespace=False)
    password = serializers.CharField(write_only=True, required=False, max_length=4096,
                                     trim_whitespace=False)
    api_key = serializers.CharField(write_only=True, required=False, max_length=4096,
                                    trim_whitespace=False)
    header = serializers.RegexField(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$", required=False,
                                    allow_blank=True,
                                    error_messages={"invalid": "must be an HTTP header name"})

    class Meta:
        model = Credential
        fields = ["name", "kind", "base_url", "header", "token", "username", "password",
                  "api_key"]

    def validate_base_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise ValidationError("must be an http:// or https:// URL")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = CredentialKind(attrs.get("kind") or self.instance.kind)  # type: ignore[union-attr]
        needed = SECRET_FIELDS[kind]
        given = {name for name in SECRET_NAMES if name in attrs}
        kind_changed = self.instance is not None and "kind" in attrs \
            and attrs["kind"] != self.instance.kind
        if self.instance is None or kind_changed or given:
            missing = [name for name in needed if name not in attrs]
            problems = {name: [f"required for a {kind.value} credential"] for name in missing}
            for name in sorted(given - set(needed)):
                problems[name] = [f"not used by a {kind.value} credential"]
            if problems:
                raise ValidationError(problems)
        return attrs


class CredentialPagination(PageNumberPagination):
    page_size = 50


EXAMPLE = OpenApiExample("bearer token", request_only=True, value={
    "name": "billing-api", "kind": "bearer", "base_url": "https://billing.example.com",
    "token": "s3cr3t-token"})


@extend_schema_view(
    list=extend_schema(responses={200: CredentialSerializer(many=True)}),
    retrieve=extend_schema(responses={200: CredentialSerializer, **ERRORS}),
    create=extend_schema(request=CredentialWriteSerializer, examples=[EXAMPLE],
                         responses={201: CredentialSerializer, **ERRORS}),
    update=extend_schema(request=CredentialWriteSerializer,
                         responses={200: CredentialSerializer, **ERRORS}),
    partial_update=extend_schema(request=CredentialWriteSerializer,
                                 responses={200: CredentialSerializer, **ERRORS}),
)
class CredentialViewSet(viewsets.ModelViewSet):
    """Secrets for http nodes (`"credential": "<name>"`), sent only to their base_url."""

    serializer_class = CredentialSerializer
    pagination_class = CredentialPagination

    def get_queryset(self) -> QuerySet[Credential]:
        user = self.request.user
        if not user.is_authenticated:
            return Credential.objects.none()
        return Credential.objects.filter(owner=user)

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action in {"create", "update", "partial_update"}:
            return CredentialWriteSerializer
        return CredentialSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._valid(request, None, partial=False)
        credential = self._save(Credential(owner=request.user), data)
        return Response(CredentialSerializer(credential).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        data = self._valid(request, credential, partial=kwargs.get("partial", False))
        return Response(CredentialSerializer(self._save(credential, data)).data)

    def _valid(self, request: Request, instance: Credential | None,
               partial: bool) -> dict[str, Any]:
        object_body(request, set(CredentialWriteSerializer.Meta.fields))
        serializer = CredentialWriteSerializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _save(self, credential: Credential, data: dict[str, Any]) -> Credential:
        secret: dict[str, str] = {name: data.pop(name) for name in SECRET_NAMES
                                  if name in data}
        for field, value in data.items():
            setattr(credential, field, value)
        if credential.kind == CredentialKind.API_KEY and not credential.header:
            credential.header = "X-API-Key"
        if secret:
            set_secret(credential, secret)
        try:
            with transaction.atomic():
                credential.save()
        except IntegrityError:
            raise ValidationError({"name": ["you already have a credential of this name"]}
                                  ) from None
        return credential
