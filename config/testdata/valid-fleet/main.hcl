fjord {
  project = "fleet"
}

variable "workers" {
  default = 3
}

variable "admin_key" {}

locals {
  mem      = "2GiB"
  key_list = [var.admin_key]
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

pool "nvme" {
  path         = "/srv/fjord"
  require_nvme = true
}

network "lab" {
  cidr = "10.77.0.0/28"
}

image "bookworm" {
  path   = "/srv/images/bookworm.qcow2"
  sha256 = "ABCDEF0000000000000000000000000000000000000000000000000000000000"
}

host "worker" {
  count   = var.workers
  image   = "bookworm"
  pool    = "nvme"
  network = "lab"
  vcpu    = 2
  memory  = local.mem
  disk    = "20GiB"
  ssh {
    user             = "ops"
    authorized_keys  = local.key_list
    private_key_file = "/etc/fjord/id_ed25519"
  }
}
