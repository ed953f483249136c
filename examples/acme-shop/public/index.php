<?php echo "Hello from acme-shop\n";
