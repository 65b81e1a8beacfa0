"""``python -m tanpo.dashboard``: the same as ``tanpo dashboard``."""

from tanpo.dashboard.cli import dashboard

if __name__ == "__main__":
    dashboard()
