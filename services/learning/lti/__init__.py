"""LTI 1.3 / LTI Advantage, tool side: a school's Moodle or Open edX launches the platform's courses (OIDC login,
``id_token`` launch, Deep Linking 2.0) and gets their scores back (Assignment and Grade Services 2.0)."""
