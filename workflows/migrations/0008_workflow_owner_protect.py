# Deleting a user no longer deletes their workflows, their versions and so the version
# and definition their runs show: Django refuses it while the user owns a workflow.
# State only (Django enforces on_delete itself: no SQL).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("workflows", "0007_run_callback_delivery"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="workflow",
            name="owner",
            field=models.ForeignKey(db_index=False,
                                    on_delete=django.db.models.deletion.PROTECT,
                                    related_name="workflows", to=settings.AUTH_USER_MODEL),
        ),
    ]
