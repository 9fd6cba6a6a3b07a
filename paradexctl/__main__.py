from paradexctl.cli import run

run()
