"""``python -m pixfix``."""
from .cli import main

main()
