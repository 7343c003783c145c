"""Admin forms: a workflow's JSON definition checked by the engine on save, and the
execute form (inputs and version)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from engine import PayloadError
from workflows import services
from workflows.credentials import SECRET_FIELDS, set_secret
from workflows.models import Credential, CredentialKind, Workflow

JSON_EDITOR = forms.Textarea(attrs={
    "rows": 28, "cols": 110, "spellcheck": "false",
    "style": "font-family: ui-monospace, monospace; font-size: 12px; white-space: pre",
})


class PrettyJSONField(forms.JSONField):
    """Shows JSON indented, so the definition reads (and diffs) line by line."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


def problems_as_errors(exc: PayloadError) -> ValidationError:
    return ValidationError([f"{p.path}: {p.message}" for p in exc.problems])


class WorkflowAdminForm(forms.ModelForm):
    definition = PrettyJSONField(
        widget=JSON_EDITOR,
        help_text="The workflow payload: {\"nodes\": [...], \"edges\": [...]}. Checked on save "
                  "(types, fields, expressions, cycles); a change is saved as a new version.")

    class Meta:
        model = Workflow
        fields = ["name", "description", "owner", "execution_mode"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Optional on the form (old admin forms and scripts send none): sync unless chosen.
        if "execution_mode" in self.fields:  # absent for a user who may only view
            self.fields["execution_mode"].required = False
        current = self.instance.current_version if self.instance.pk else None
        if current is not None and "definition" in self.fields:
            self.fields["definition"].initial = current.definition

    def clean_execution_mode(self) -> str:
        return self.cleaned_data.get("execution_mode") or self.instance.execution_mode or "sync"

    def clean_definition(self) -> Any:
        definition = self.cleaned_data["definition"]
        try:
            services.validate_stored_definition(definition)
        except PayloadError as exc:
            raise problems_as_errors(exc) from None
        return definition


class ExecuteForm(forms.Form):
    version = forms.TypedChoiceField(coerce=int, help_text="Any saved version can run.")
    inputs = PrettyJSONField(
        required=False, initial=dict, widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Values for the workflow's context variables, by name: {\"name\": value}.")

    def __init__(self, workflow: Workflow, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        numbers = list(workflow.versions.order_by("-number").values_list("number", flat=True))
        self.fields["version"].choices = [(n, f"version {n}") for n in numbers]
        if workflow.current_version is not None:
            self.fields["version"].initial = workflow.current_version.number

    def clean_inputs(self) -> dict[str, Any]:
        inputs = self.cleaned_data.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise ValidationError("must be a JSON object: {\"name\": value}")
        return inputs


class CredentialAdminForm(forms.ModelForm):
    """The secret fields are write-only: empty on every form, never rendered back. On a
    change, leaving them empty keeps the stored secret."""

    token = forms.CharField(required=False, strip=False,
                            widget=forms.PasswordInput(render_value=False),
                            help_text="bearer: the token")
    username = forms.CharField(required=False, strip=False,
                               widget=forms.PasswordInput(render_value=False),
                               help_text="basic: the username")
    password = forms.CharField(required=False, strip=False,
                               widget=forms.PasswordInput(render_value=False),
                               help_text="basic: the password")
    api_key = forms.CharField(required=False, strip=False,
                              widget=forms.PasswordInput(render_value=False),
                              help_text="api_key: the key")
    base_url = forms.URLField(max_length=500, assume_scheme="https",
                              help_text="the only origin it is sent to")

    class Meta:
        model = Credential
        fields = ["owner", "name", "kind", "base_url", "header"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if not kind:
            return data
        needed = SECRET_FIELDS[CredentialKind(kind)]
        given = [name for name in needed if data.get(name)]
        replacing = self.instance.pk is None or "kind" in self.changed_data or given
        if replacing:
            for name in needed:
                if not data.get(name):
                    self.add_error(name, f"required for a {kind} credential")
        return data

    def save(self, commit: bool = True) -> Credential:
        credential = super().save(commit=False)
        needed = SECRET_FIELDS[CredentialKind(credential.kind)]
        if all(self.cleaned_data.get(name) for name in needed):
            set_secret(credential, {name: self.cleaned_data[name] for name in needed})
        if credential.kind == CredentialKind.API_KEY and not credential.header:
            credential.header = "X-API-Key"
        if commit:
            credential.save()
        return credential
