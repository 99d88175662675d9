"""Warnings kappa silences where they arise, because no user of kappa can act on them."""
import warnings


def silence_google_client_warnings() -> None:
    """Google's client libraries (Beam's GCP extras) warn on import about future Python and grpcio support."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
