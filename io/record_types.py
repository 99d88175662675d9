"""The default registry's record types as this module's attributes, by subject: `record_types.order` is
`contract("order").record_type`. It is the name a shared record type has, so pickle and Beam's dill
ship the class by name, and a worker unpickles it as the class of its own contract. Nothing else lives
here, so no subject's name can clash with one."""


def __getattr__(subject: str) -> type:
    if subject.startswith("__"):
        raise AttributeError(subject)
    from kappa.io.contracts import contract  # contracts imports this module to name its record types
    try:
        return contract(subject).record_type
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {subject!r}: no such schema subject") from None
