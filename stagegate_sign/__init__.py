"""stagegate-sign: sign Stagegate stage sign-offs on the signer's own machine."""
