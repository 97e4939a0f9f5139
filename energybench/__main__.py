from energybench.cli import entry

entry()
