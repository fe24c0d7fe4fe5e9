"""Form definitions: schema, loading and page geometry."""

from yomitori.forms.schema import (
    Box,
    FieldDef,
    FieldType,
    FormDefinition,
    Option,
    Sensitivity,
    ValidatorSpec,
    available_forms,
    forms_dir,
    load_form,
    load_form_file,
)

__all__ = [
    "Box",
    "FieldDef",
    "FieldType",
    "FormDefinition",
    "Option",
    "Sensitivity",
    "ValidatorSpec",
    "available_forms",
    "forms_dir",
    "load_form",
    "load_form_file",
]
