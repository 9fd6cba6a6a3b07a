from paradexctl.cli.main import run

run()
