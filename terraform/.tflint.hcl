# tflint with its bundled Terraform ruleset only: it runs offline (the Google
# ruleset would have to be downloaded).
plugin "terraform" {
  enabled = true
  preset  = "all"
}
