"""The attack suite: each test is one known attack on Tillid, and passes when it fails."""
