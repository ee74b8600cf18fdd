from jooksms.cli import main

main()
