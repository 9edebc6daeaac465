# The example fjord ships: one hardened Docker host on an isolated network.
# `make demo` fills the variables (a locally built Debian image, a fresh SSH
# key, virt_type = "qemu" where KVM cannot boot stock kernels).

fjord {
  project = "demo"
}

variable "image_path" {
  description = "a Debian bookworm cloud image with cloud-init (qcow2)"
}

variable "image_sha256" {}

variable "ssh_public_key" {}

variable "ssh_private_key_file" {}

variable "virt_type" {
  default = "kvm"
}

variable "waivers" {
  description = "verification checks this host may fail, with the reason (make demo waives guest.kvm under software emulation)"
  default     = {}
}

variable "pool_path" {
  default = "/var/lib/fjord/pools/demo"
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = var.virt_type
}

pool "demo" {
  path = var.pool_path
}

network "demo" {
  cidr = "192.168.150.0/24"
}

image "bookworm" {
  path   = var.image_path
  sha256 = var.image_sha256
}

host "docker" {
  image   = "bookworm"
  pool    = "demo"
  network = "demo"
  vcpu    = 2
  memory  = "2GiB"
  disk    = "8GiB"

  docker {
    waive = var.waivers

    network "backend" {
      internal = true
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
  }
}
