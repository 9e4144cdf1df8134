"""Tillid's identity provider. The app is built by ``idp.app.create_app``; the base layer every
package stands on is ``idp.core``. Importing this package loads nothing else."""
