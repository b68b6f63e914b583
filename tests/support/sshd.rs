//! Placeholder: the OpenSSH sshd fixture is written in a later commit.
