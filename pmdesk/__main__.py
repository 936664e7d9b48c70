from pmdesk.cli import main

raise SystemExit(main())
