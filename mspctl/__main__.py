from mspctl.cli import main

main()
