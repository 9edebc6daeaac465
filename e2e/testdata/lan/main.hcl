# The e2e LAN: a host bridged onto a "physical" network (a Linux bridge the
# test makes inside fjord's network namespace, with a client namespace on
# it), with a static address, and a second, isolated NIC for the backend.
fjord {
  project = "lan"
}

variable "image_path" {}
variable "image_sha256" {}
variable "ssh_public_key" {}
variable "ssh_private_key_file" {}

variable "bridge" {
  default = "fjlan0"
}

# Changed by the test to update the host in place.
variable "publish" {
  default = [8080]
}
variable "log_driver" {
  default = "journald"
}
variable "relax" {
  default = {}
}
variable "disk" {
  default = "6GiB"
}
variable "data_disk" {
  default = "10GiB"
}
variable "sysctls" {
  default = {}
}
variable "sshd_options" {
  default = {}
}

hypervisor "local" {
  uri       = "qemu:///system"
  virt_type = "qemu"
}

pool "lan" {
  path = "/var/lib/fjord/pools/lan"
}

network "lan" {
  bridge  = var.bridge
  cidr    = "10.20.0.0/24"
  gateway = "10.20.0.1"
  dns     = ["10.20.0.1"]
}

network "backend" {
  cidr = "192.168.71.0/24"
}

image "bookworm" {
  path   = var.image_path
  sha256 = var.image_sha256
}

host "web" {
  image    = "bookworm"
  pool     = "lan"
  networks = ["lan", "backend"]
  address  = { lan = "10.20.0.21" }
  vcpu     = 2
  memory   = "2GiB"
  disk     = var.disk
  sysctls  = var.sysctls

  docker {
    data_disk  = var.data_disk
    publish    = var.publish
    log_driver = var.log_driver
    # fjord (on the hypervisor's side of the LAN) and one admin machine.
    admin_sources = ["10.20.0.1/32", "10.20.0.50/32"]
    waive = {
      "guest.kvm" = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
      "host.kvm"  = "e2e guests run under software emulation: this machine's KVM cannot boot stock kernels"
    }
    authz {
      relax = var.relax
    }
  }

  ssh {
    user             = "admin"
    authorized_keys  = [var.ssh_public_key]
    private_key_file = var.ssh_private_key_file
    sshd_options     = var.sshd_options
  }
}
