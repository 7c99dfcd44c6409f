"""The embedded AWS and what is in it: moto's server in its own process (with
DynamoDB made as faithful as the stack needs), template.yaml read with its intrinsics
resolved, and the tables, secret and user pool created from the template's own
resource definitions, so local and deployed schemas cannot drift."""
