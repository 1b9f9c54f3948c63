"""Bad-input corpus: small fixture files beside this module; large ones come from :mod:`make`."""
