# A hypervisor not pinned yet: fjord hypervisor-key NAME reads its URI
# even though the configuration does not validate without host_key.
variable "address" {}

variable "pinned" {
  default = ""
}

hypervisor "rack1-a" {
  uri          = "qemu+ssh://root@${var.address}/system"
  host_key     = var.pinned
  ssh_key_file = "id"
}
