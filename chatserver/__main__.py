from chatserver.app.cli import run

run()
