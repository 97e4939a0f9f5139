from energybench.cli import main

raise SystemExit(main())
