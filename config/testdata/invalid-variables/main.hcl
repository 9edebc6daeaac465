variable "size" { # ERROR: No value for required variable
}

locals {
  a = local.b # ERROR: Unresolvable local
  b = local.a # ERROR: Unresolvable local
}
