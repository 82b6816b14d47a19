"""Turns infra/template.yaml (given as CloudFormation JSON, short-form intrinsics already in long
form) into the plain CloudFormation a stack is created from, with the pinned aws-sam-translator,
as `sam deploy` would after `sam build`: each function's CodeUri points at an S3 object and the
state machine's definition file is given inline. Then, for moto's CloudFormation, which cannot do
two things CloudFormation can, the state machine's `DefinitionSubstitutions` are applied by an
`Fn::Join` of the definition's text around the same values (moto ignores the property; and its
`Fn::Sub` turns the definition's `$$` into `$`), and `!GetAtt A.B` strings become lists.

Usage: transform.py TEMPLATE_JSON DEFINITION_JSON CODE_BUCKET OUTPUT_JSON
"""

import json
import re
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.public.translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform


class NoManagedPolicies(ManagedPolicyLoader):
    """The template names no managed policy by name; nothing is looked up in IAM."""

    def __init__(self):
        pass

    def load(self):
        return {}


def long_form_get_att(node):
    if isinstance(node, dict):
        return {
            key: (value.split(".", 1) if key == "Fn::GetAtt" and isinstance(value, str) else long_form_get_att(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [long_form_get_att(item) for item in node]
    return node


def main(template_path, definition_path, code_bucket, output_path):
    template = long_form_get_att(json.load(open(template_path)))
    definition = json.load(open(definition_path))
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = f"s3://{code_bucket}/{logical_id}.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            properties.pop("DefinitionUri")
            properties["Definition"] = definition
    try:
        output = transform(template, {}, NoManagedPolicies(), feature_toggle=None, passthrough_metadata=False)
    except InvalidDocumentException as error:
        sys.exit("the template does not transform: " + "; ".join(str(cause) for cause in error.causes))
    for resource in output["Resources"].values():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            properties = resource["Properties"]
            substitutions = properties.pop("DefinitionSubstitutions", {})
            pieces = re.split(r"\$\{([A-Za-z0-9_]+)\}", json.dumps(definition, indent=2))
            # split() alternates text and placeholder names: text, name, text, …, text.
            joined = [substitutions[piece] if index % 2 else piece for index, piece in enumerate(pieces)]
            properties["DefinitionString"] = {"Fn::Join": ["", joined]}
    json.dump(output, open(output_path, "w"), indent=2)


if __name__ == "__main__":
    main(*sys.argv[1:])
