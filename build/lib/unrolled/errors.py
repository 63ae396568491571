"""Errors the pipeline reports to the user: each names the file or key and what was expected."""


class UnrolledError(Exception):
    """Base class; the CLI prints these without a traceback and exits with status 2."""


class ChecksumError(UnrolledError):
    def __init__(self, path, expected: str, actual: str, size: int | None = None):
        self.path, self.expected, self.actual = str(path), expected, actual
        extra = f" ({size} bytes; truncated or replaced?)" if size is not None else ""
        super().__init__(
            f"{path}: sha256 mismatch{extra}\n  expected {expected}\n  actual   {actual}"
        )


class UnsafeArchiveError(UnrolledError):
    pass


class SourceError(UnrolledError):
    pass
