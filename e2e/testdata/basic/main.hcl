# The e2e suite's project: one host on an isolated network, booted under
# software emulation because this machine's KVM cannot run stock kernels.
fjord {
  project = "e2e"
}

variable "image_path" {}
variable "image_sha256" {}
variable "ssh_public_key" {}
variable "ssh_private_key_file" {}

variable "memory" {
  default = "2GiB"
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

pool "e2e" {
  path = "/var/lib/fjord/pools/e2e"
}

network "e2e" {
  cidr = "192.168.151.0/24"
}

image "bookworm" {
  path   = var.image_path
  sha256 = var.image_sha256
}

host "node" {
  image   = "bookworm"
  pool    = "e2e"
  network = "e2e"
  vcpu    = 2
  memory  = var.memory
  disk    = "6GiB"

  docker {
    waive = {
      "guest.kvm" = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
      "host.kvm"  = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
    }
    network "backend" {
      internal = true
    }
    network "frontend" {}
    authz {
      relax = {
        host_uts = "e2e: a relaxed rule must let exactly its own case through"
      }
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
  }
}
