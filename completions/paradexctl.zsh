#compdef paradexctl

_paradexctl_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _PARADEXCTL_COMPLETE=complete_zsh paradexctl)
}

compdef _paradexctl_completion paradexctl
