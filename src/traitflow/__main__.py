from traitflow.cli.main import main

main()
