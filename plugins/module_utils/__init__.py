"""mail_bruteforce_guard: the detector library shared by the host program, the Ansible modules and filters.

Stdlib only, Python >= 3.9. On hosts and in the venv this folder is the package ``mail_bruteforce_guard``;
inside Ansible it is ``ansible_collections.mailsec.mail_bruteforce_guard.plugins.module_utils``.
"""
