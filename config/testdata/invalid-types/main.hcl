hypervisor "hv" {
  virt_type = "xen" # ERROR: must be "kvm" or "qemu"
}

pool "default" {
  path         = "relative/dir" # ERROR: must be an absolute path
  require_nvme = "maybe" # ERROR: Wrong type for require_nvme
}
