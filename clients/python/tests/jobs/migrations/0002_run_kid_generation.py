from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(model_name="run", name="generation", field=models.IntegerField(null=True)),
        migrations.AddField(model_name="run", name="kid_generation", field=models.IntegerField(null=True)),
    ]
