from neurenix_cli.main import run

run()
