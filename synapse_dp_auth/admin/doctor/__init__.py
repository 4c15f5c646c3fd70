"""``doctor``: can bridges double-puppet on a running homeserver, and if not, why?

``command.py`` (arguments, handler) runs one of three checks, each printing a
:class:`~synapse_dp_auth.admin.doctor.verdict.Verdict`:

- shared-secret logins: ``shared_secret.py`` (the course), ``shared_secret_diagnosis.py`` (the
  decisions), ``shared_secret_report.py`` (what it prints);
- the appservice method: ``appservice.py``;
- a bridge's own config: ``bridge_config.py`` (the check), ``bridge_config_file.py`` (reading the
  file), ``bridge_config_method.py`` (which method it makes the bridge use; the mautrix bridges'
  in ``bridge_config_mautrix.py``), ``bridge_config_model.py`` (what that finding holds).
"""
