"""Form definitions: schema, loading and page geometry."""

from yomitori.forms.schema import (
    Box,
    DateParts,
    FieldDef,
    FieldType,
    FormDefinition,
    OfficeArea,
    Option,
    Sensitivity,
    ValidatorSpec,
    available_forms,
    forms_dir,
    load_form,
    load_form_file,
    reference_path,
)

__all__ = [
    "Box",
    "DateParts",
    "FieldDef",
    "FieldType",
    "FormDefinition",
    "OfficeArea",
    "Option",
    "Sensitivity",
    "ValidatorSpec",
    "available_forms",
    "forms_dir",
    "load_form",
    "load_form_file",
    "reference_path",
]
